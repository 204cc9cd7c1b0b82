"""Running a job: the :class:`~pipeline.run.pipeline.Pipeline` object (stages over batches of rows),
the local streaming runner (local) and the Ray Data runner (ray) that drive it, the resumable run
state beside the output (state) and progress reporting (progress)."""
