export { trainingPipeline } from './trainingPipeline';
export { elevationExpiry } from './elevation';
