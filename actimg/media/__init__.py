"""Files and figures: videos and PNG sequences (``video``), sequence layouts (``layout``) and
plots and overlays (``viz``). Imported on first use: ``video`` needs PyAV, ``viz`` matplotlib."""
