"""Streamlit glue shared by the dashboard pages (caching, settings). The only Streamlit code
outside pages/; the core (facerec_core) never imports Streamlit."""
