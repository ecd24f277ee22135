"""Route-to-market effectiveness: coverage, cost to serve, A&P returns, distributor
scorecards and reallocation (issue 5). The measures are dbt marts; this package holds
their validated configuration."""
