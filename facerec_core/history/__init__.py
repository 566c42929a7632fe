"""The history of decisions: sightings (who was seen when, from where, with what score), kept in
the gallery's file for a retention period; clusters of the unknown faces among them."""
from .recording import record_sightings, sighting_store
from .store import SOURCES, Sighting, SightingQuery, SightingStore, search_by_face, sightings_csv

__all__ = ["SOURCES", "Sighting", "SightingQuery", "SightingStore", "record_sightings", "search_by_face", "sighting_store",
           "sightings_csv"]
