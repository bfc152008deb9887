"""One training job: data, model, fit, measurements, record."""
