"""HttpRequest and HttpResponse: the plain values the HTTP server hands to its handlers and gets back.

They are defined in srsish.protocol.http, next to the parser that builds them; the app's HTTP room keeps
importing them from here.
"""
from srsish.protocol.http import HttpRequest, HttpResponse

__all__ = ["HttpRequest", "HttpResponse"]
