"""Files a user names: read without blocking on a FIFO, within size limits, and written safely.

The core takes text; reading and writing files is the tools' work, done here once.
"""
