"""Learning simple algorithms by acting: tape and grid environments, controllers, Q(lambda) and REINFORCE."""
