"""Origin features of a publish session: the hub that feeds them, DVR recording and HLS segmenting."""
