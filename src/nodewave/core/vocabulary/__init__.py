"""What every room speaks: the reasons, the actions a plan asks for, the snapshot a pass sees, names, patches, conditions."""
