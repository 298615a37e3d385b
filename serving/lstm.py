"""`python -m serving.lstm --model_dir DIR`: the LSTM classifier server (see serving.classifier)."""

import sys

from serving.classifier import main

if __name__ == "__main__":
    sys.exit(main("lstm"))
