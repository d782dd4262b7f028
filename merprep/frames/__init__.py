"""Frame decoding (images, videos, reduced-size JPEG) and temporal sampling."""
