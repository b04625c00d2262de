"""Adapter around PureCloudPlatformClientV2: auth, the calls the product makes, retry."""
