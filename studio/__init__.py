"""The Streamlit studio: pages over the `character` library and the job runner (no logic here)."""
