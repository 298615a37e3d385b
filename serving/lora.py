"""`python -m serving.lora --model_dir DIR`: the LoRA transformer classifier server (see serving.classifier)."""

import sys

from serving.classifier import main

if __name__ == "__main__":
    sys.exit(main("lora"))
