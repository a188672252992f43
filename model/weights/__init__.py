"""The shipped detector weights, installed as package data (``marsaurora.weights``)."""
