#!/usr/bin/env python
"""Write a SYNTHETIC Speech Commands set (espeak-ng/flite voices) in the v2 folder layout.

    python scripts/make_synthetic_speech.py --out ~/.cache/frozen-bench/data/speech_commands_synth
    frozen-bench run +exp=speech_synth_fft

The logic lives in frozen_bench.data.speech_synth so the installed package can run it too
(``python -m frozen_bench.data.speech_synth``).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a source checkout

from frozen_bench.data.speech_synth import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
