"""Training machinery for image classifiers: device, schedules, augmentation, loop, checkpoints.

Modules here import torch; import them inside functions from anything the CLI loads.
"""
