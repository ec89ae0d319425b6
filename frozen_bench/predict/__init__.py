"""A trained model on a user's own inputs: ``frozen-bench predict`` and ``frozen-bench evaluate``.

``load`` rebuilds a finished run saved with ``trainer.save_model=true`` from its ``config.yaml``,
``model.pt`` and ``preprocess.json`` (what its data loader did to an input) without loading the
training data; ``inputs`` turns image or audio files, or ``.npy``/``.pt`` arrays, into the tensors
the loader would have made of them; ``score`` predicts and scores a labelled folder.
"""

from frozen_bench.predict.load import Trained, load
from frozen_bench.predict.score import evaluate_folder, predict

__all__ = ["Trained", "evaluate_folder", "load", "predict"]
