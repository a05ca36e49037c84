"""The knowledge base: articles, Chinese tokenising, the search index and answer rendering."""
