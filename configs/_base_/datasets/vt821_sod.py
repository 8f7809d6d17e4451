# Test on VT821 (RGB/, T/, GT/ directly in data_root) with the VT5000 training set.
_base_ = './vt5000_sod.py'

sod_val_dataloader = dict(dataset=dict(data_root='data/VT821/', split=''))
