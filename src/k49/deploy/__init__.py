"""Using trained runs: images brought to K49's form, predictions, ONNX export with a model card,
and an HTTP server with a drawing page."""
