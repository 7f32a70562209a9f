"""The fetch layer every source uses: per-source policies, rate limiting, retries, cool-downs."""
