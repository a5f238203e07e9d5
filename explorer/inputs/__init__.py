"""A photo folder as input: find the files (scan), decode them (decode), say why not (skips).

``formats`` reads what a file's bytes say about its format; ``capture`` reads
when, with what camera and whether with GPS a photo was taken.
"""
