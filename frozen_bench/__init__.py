"""frozen-bench: how far do frozen neural networks go?"""

__version__ = "0.1.0"
