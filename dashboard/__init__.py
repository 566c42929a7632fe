"""Streamlit code shared by the dashboard pages: the page preamble (page.py), cached resources
(resources.py) and data (data.py), charts (charts.py), the training job (training_job.py) and the
WebRTC adapter the video tests import (webcam_support.py). Anything one page alone uses lives in
that page's file under pages/. The only Streamlit code outside pages/; the core (facerec_core)
never imports Streamlit."""
