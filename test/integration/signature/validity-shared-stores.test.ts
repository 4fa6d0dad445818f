// The validity model on the stores shared by several hosts: PostgreSQL and a (one-member) etcd.
import { runValidityModel } from './validity-model.js';

runValidityModel(['postgres', 'etcd']);
