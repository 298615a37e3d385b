"""KServe model servers of the toxic-prompt filter: lstm, lora, guard and caption."""
