"""What makes the pipeline run itself: freshness policies, schedules, the priority sensor, concurrency pools."""
