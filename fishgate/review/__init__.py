"""The biologist's desk: a local web application over a store (`fishgate review`)."""
