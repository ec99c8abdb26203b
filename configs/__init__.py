"""The run configs shipped with archsim (package data `archsim.configs`): demo.yaml, quickstart.yaml, imagenet69.yaml."""
