"""One router per resource; `starter/api/app.py` includes them."""
