"""One router per resource: scoring, the served model, health and metrics."""
