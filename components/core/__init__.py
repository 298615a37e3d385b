"""The serve-time core: what the model servers import (text, reading, prediction, calibration, model info)."""
