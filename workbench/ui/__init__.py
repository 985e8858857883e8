"""Streamlit helpers: the only Streamlit-aware code besides ``app.py`` and ``pages/``.

``services`` builds the cached engine-backed services, ``chrome`` draws what every page shows
(sidebar, running sweeps; later the sign-in gate), ``widgets`` holds small shared widgets.
"""
