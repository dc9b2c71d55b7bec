"""Export: the serving module (inference_module) and the SavedModel writer (exporter_lib)."""
