"""Album tagging as stages: scan → analyse → name → record → write sidecars → cluster
(`index.album.tagger`), and the life of the jobs that run them (`index.album.jobs`)."""
