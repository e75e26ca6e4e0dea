"""Segments and predictive models, following scikit-learn's estimator conventions."""
