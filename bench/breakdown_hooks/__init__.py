"""Hooks `bench/hostile.py --breakdown` loads into the processes it times (see `loop_hooks`)."""
