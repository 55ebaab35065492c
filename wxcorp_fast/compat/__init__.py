"""Drop-in replacements for other WeChat SDKs (``wxcorp_fast.compat.wechatpy``)."""
