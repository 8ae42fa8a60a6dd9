"""Request and response models, and the field types they are built from: one shape per
concept, declared once and shared by the resource API, the legacy routes and the services."""
