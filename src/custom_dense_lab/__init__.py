"""The experiment lab around the layer: programs, config, data, training, tracking, sweeps, reports.

Importing it imports nothing: each program quiets TensorFlow's start-up first (`process.startup`).
"""
