"""The standalone HTML report: presents the analysis, computes nothing.

``data`` (what it shows, validated), ``payload`` (the JSON the page script
gets), ``figure`` (the Bokeh map), ``histogram`` (the threshold chart),
``thumbnails`` (data URIs, size budget, sidecar folder), ``assets`` (templates,
stylesheet and script, read from the package) and ``render`` (``write_report``).
"""
