"""Evaluation: is the trained persona better, and how sure are we?

Every number comes with a 95% interval (Wilson for rates, bootstrap for ratings and means).
Heavy libraries (torch, sentence-transformers, scikit-learn) are imported lazily inside the
functions that need them, so importing this package stays fast.
"""
