"""The Streamlit moderation console over the KServe services (`streamlit run serving/ui/app.py`)."""
