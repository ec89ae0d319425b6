"""Run records: signature, identity fields, the store (run folders, one atomic write), the table (all.csv)."""
