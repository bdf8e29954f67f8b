// Public surface of the server's operator commands: online backup and restore, and doctor.
export { backup, restore } from './backup';
export { runDoctor, type DoctorCheck } from './doctor';
