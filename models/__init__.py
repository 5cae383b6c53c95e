"""The baseline models (ONNX files) and the scripts that build them; see NOTICE and manifest.json."""
