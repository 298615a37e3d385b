"""Training: the LSTM and LoRA trainers, the encoders, ONNX export, leave-one-source-out, the quick guard."""
