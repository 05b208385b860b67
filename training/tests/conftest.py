import torch

# One thread: the machine is shared, and two OpenMP threads on contended cores make tiny matmuls ~50x slower.
torch.set_num_threads(1)
