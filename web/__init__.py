"""Web front ends (chat page, JSON API, embeddable widget); all answer through `retrieval`."""
